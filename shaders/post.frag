#version 450
// macrokid post pass: exposure, ACES filmic tone mapping (Narkowicz 2015, "ACES Filmic Tone
// Mapping Curve") and a vignette that leaves the centre untouched and darkens towards the
// corners. Reads the HDR geometry target texel for texel (set 0, binding 0).
// Push constants (12 bytes): exposure (linear multiplier), vignette strength (0: none,
// 1: black corners), aspect ratio (width / height).

layout(set = 0, binding = 0) uniform sampler2D hdr;

layout(push_constant) uniform Post {
    float exposure;
    float vignette;
    float aspect;
} pc;

layout(location = 0) in vec2 v_uv;

layout(location = 0) out vec4 out_color;

vec3 aces(vec3 x) {
    return clamp((x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14), 0.0, 1.0);
}

void main() {
    vec4 c = texelFetch(hdr, ivec2(gl_FragCoord.xy), 0);
    vec3 mapped = aces(c.rgb * pc.exposure);
    vec2 d = (v_uv - 0.5) * vec2(pc.aspect, 1.0);
    float r = length(d) / length(vec2(pc.aspect, 1.0) * 0.5);
    float v = 1.0 - pc.vignette * smoothstep(0.6, 1.0, r);
    out_color = vec4(mapped * v, c.a);
}
