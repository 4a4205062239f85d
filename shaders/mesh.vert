#version 450
// macrokid mesh vertex shader.
// Per-vertex (binding 0, 48-byte stride, macrokid_graphics::scene::Vertex): position (vec3,
// model units), normal (vec3), uv (vec2, glTF TEXCOORD_0), colour (vec4, linear RGBA).
// Per-instance (binding 1, 80-byte stride): model matrix as 4 column vec4s (column-major),
// then an RGBA tint (linear, 0..1) that multiplies the material.
// Push constants (96 bytes): view-projection (column-major mat4 into Vulkan clip space:
// y down, depth 0..1), the light direction (xyz: direction the light travels, world space;
// w: ambient term 0..1) and the material's base-colour factor (linear RGBA).

layout(location = 0) in vec3 in_position;
layout(location = 1) in vec3 in_normal;
layout(location = 2) in vec2 in_uv;
layout(location = 3) in vec4 in_color;
layout(location = 4) in vec4 in_model_c0;
layout(location = 5) in vec4 in_model_c1;
layout(location = 6) in vec4 in_model_c2;
layout(location = 7) in vec4 in_model_c3;
layout(location = 8) in vec4 in_tint;

layout(push_constant) uniform PushConstants {
    mat4 view_proj;
    vec4 light_dir_ambient;
    vec4 base_color_factor;
} pc;

layout(location = 0) out vec3 v_normal;
layout(location = 1) out vec4 v_color;
layout(location = 2) out vec2 v_uv;

void main() {
    mat4 model = mat4(in_model_c0, in_model_c1, in_model_c2, in_model_c3);
    vec4 world = model * vec4(in_position, 1.0);
    gl_Position = pc.view_proj * world;
    // Inverse-transpose keeps normals perpendicular under non-uniform scale.
    v_normal = transpose(inverse(mat3(model))) * in_normal;
    v_color = in_color * in_tint * pc.base_color_factor;
    v_uv = in_uv;
}
