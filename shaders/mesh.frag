#version 450
// macrokid mesh fragment shader (push-descriptor path): Lambert diffuse + constant ambient
// on base-colour texture x base-colour factor x vertex colour x instance tint (the last three
// are multiplied in mesh.vert). The texture is pushed as set 0, binding 0 per material; an
// sRGB texture format makes the sample linear. See mesh.vert for the push constants.

layout(set = 0, binding = 0) uniform sampler2D base_color_texture;

layout(push_constant) uniform PushConstants {
    mat4 view_proj;
    vec4 light_dir_ambient;
    vec4 base_color_factor;
} pc;

layout(location = 0) in vec3 v_normal;
layout(location = 1) in vec4 v_color;
layout(location = 2) in vec2 v_uv;

layout(location = 0) out vec4 out_color;

void main() {
    vec4 base = texture(base_color_texture, v_uv) * v_color;
    vec3 n = normalize(v_normal);
    vec3 to_light = -normalize(pc.light_dir_ambient.xyz);
    float ambient = clamp(pc.light_dir_ambient.w, 0.0, 1.0);
    float diffuse = max(dot(n, to_light), 0.0);
    out_color = vec4(base.rgb * (ambient + (1.0 - ambient) * diffuse), base.a);
}
