#version 450
// macrokid mesh fragment shader: Lambert diffuse + constant ambient.
// See mesh.vert for the push-constant layout.

layout(push_constant) uniform PushConstants {
    mat4 view_proj;
    vec4 light_dir_ambient;
} pc;

layout(location = 0) in vec3 v_normal;
layout(location = 1) in vec4 v_color;

layout(location = 0) out vec4 out_color;

void main() {
    vec3 n = normalize(v_normal);
    vec3 to_light = -normalize(pc.light_dir_ambient.xyz);
    float ambient = clamp(pc.light_dir_ambient.w, 0.0, 1.0);
    float diffuse = max(dot(n, to_light), 0.0);
    out_color = vec4(v_color.rgb * (ambient + (1.0 - ambient) * diffuse), v_color.a);
}
