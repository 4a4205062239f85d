#version 450
// macrokid mesh vertex shader.
// Per-vertex (binding 0, 48-byte stride, macrokid_graphics::scene::Vertex): position (vec3,
// model units) at offset 0, normal (vec3) at 12; uv (vec2) at 24 and colour (vec4) at 32
// are not read here.
// Per-instance (binding 1, 80-byte stride): model matrix as 4 column vec4s (column-major),
// then an RGBA colour (linear, 0..1).
// Push constants (80 bytes): view-projection (column-major mat4 into Vulkan clip space:
// y down, depth 0..1) and the light direction (xyz: direction the light travels, world
// space; w: ambient term 0..1).

layout(location = 0) in vec3 in_position;
layout(location = 1) in vec3 in_normal;
layout(location = 2) in vec4 in_model_c0;
layout(location = 3) in vec4 in_model_c1;
layout(location = 4) in vec4 in_model_c2;
layout(location = 5) in vec4 in_model_c3;
layout(location = 6) in vec4 in_color;

layout(push_constant) uniform PushConstants {
    mat4 view_proj;
    vec4 light_dir_ambient;
} pc;

layout(location = 0) out vec3 v_normal;
layout(location = 1) out vec4 v_color;

void main() {
    mat4 model = mat4(in_model_c0, in_model_c1, in_model_c2, in_model_c3);
    vec4 world = model * vec4(in_position, 1.0);
    gl_Position = pc.view_proj * world;
    // Inverse-transpose keeps normals perpendicular under non-uniform scale.
    v_normal = transpose(inverse(mat3(model))) * in_normal;
    v_color = in_color;
}
