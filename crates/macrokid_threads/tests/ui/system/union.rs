use macrokid_threads::System;

#[derive(System)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
