#version 450
// macrokid post pass vertex shader: one triangle that covers the screen (no vertex buffer;
// vertices 0, 1, 2 at clip (-1,-1), (3,-1), (-1,3)). v_uv is 0..1 across the image.

layout(location = 0) out vec2 v_uv;

void main() {
    vec2 p = vec2((gl_VertexIndex << 1) & 2, gl_VertexIndex & 2);
    v_uv = p;
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
