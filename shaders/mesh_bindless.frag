#version 450
// macrokid mesh fragment shader (bindless path): as mesh.frag, but the base-colour texture is
// element `texture_index` of a runtime-sized array of combined image samplers (set 0,
// binding 0; descriptor indexing: partially bound, update after bind, non-uniform indexing).

#extension GL_EXT_nonuniform_qualifier : require

layout(set = 0, binding = 0) uniform sampler2D textures[];

layout(push_constant) uniform PushConstants {
    mat4 view_proj;
    vec4 light_dir_ambient;
    vec4 base_color_factor;
    uint texture_index;
} pc;

layout(location = 0) in vec3 v_normal;
layout(location = 1) in vec4 v_color;
layout(location = 2) in vec2 v_uv;

layout(location = 0) out vec4 out_color;

void main() {
    vec4 base = texture(textures[nonuniformEXT(pc.texture_index)], v_uv) * v_color;
    vec3 n = normalize(v_normal);
    vec3 to_light = -normalize(pc.light_dir_ambient.xyz);
    float ambient = clamp(pc.light_dir_ambient.w, 0.0, 1.0);
    float diffuse = max(dot(n, to_light), 0.0);
    out_color = vec4(base.rgb * (ambient + (1.0 - ambient) * diffuse), base.a);
}
