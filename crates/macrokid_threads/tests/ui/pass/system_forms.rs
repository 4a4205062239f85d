use macrokid_threads::{Reads, ResourceId, System, Writes};

struct Position;
struct Velocity;
mod time {
    pub struct Time;
}

// Generics are carried through; paths, generic types and repeated
// attributes are fine; trailing commas too.
#[derive(System)]
#[system(reads(time::Time, Vec<Position>,))]
#[system(writes(Velocity), name = "steer")]
struct Steer<T: Send + 'static> {
    _state: T,
}

#[derive(System)]
#[system(reads(T), writes(Option<T>))]
struct Generic<T: Send + Sync + 'static>(T);

#[derive(System)]
struct r#Empty {}

#[derive(System)]
#[system()]
struct Unit;

fn writes<S: Writes<W> + Reads<R>, W, R>() {}

fn main() {
    writes::<Steer<u8>, Velocity, Velocity>();
    writes::<Steer<u8>, Velocity, time::Time>();
    writes::<Generic<u8>, Option<u8>, u8>();
    assert_eq!(Steer::<u8>::name(), "steer");
    assert_eq!(Empty::name(), "Empty");
    assert!(Unit::access().is_empty());
    assert_eq!(Generic::<u8>::access().writes(), &[ResourceId::of::<Option<u8>>()]);
}
