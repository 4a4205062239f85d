use macrokid_threads::{Schedule, Standalone, StandaloneSystem, System, SystemSlot, BoxError, RunSchedule, Scheduler};

#[derive(System, Default)]
struct A;
#[derive(System, Default)]
#[system(name = "generic")]
struct G<T: Send + 'static>(T);

impl StandaloneSystem for A {
    fn run(&mut self, _: SystemSlot) -> Result<(), BoxError> {
        Ok(())
    }
}

// A single system, a tuple, an empty stage, a raw identifier, repeated
// lists with a trailing comma, stages declared before their predecessors.
#[derive(Schedule, Default)]
struct Forms {
    #[stage(after = "type")]
    single: A,
    #[stage(after = "type", after = "empty,")]
    #[stage(before = "late")]
    tuple: (A, A),
    #[stage]
    empty: (),
    #[stage]
    r#type: (),
    #[stage(name = "late")]
    last: (A,),
}

// Generic schedules get one plan per instantiation.
#[derive(Schedule)]
struct Generic<T: Send + 'static> {
    #[stage]
    only: (G<T>, A),
}

#[derive(Schedule)]
struct Nothing {}

fn main() {
    assert_eq!(
        Forms::topo_groups(),
        vec![vec!["empty", "type"], vec!["single", "tuple"], vec!["late"]]
    );
    Forms::default().run(&Scheduler::single_threaded(), &Standalone).unwrap();
    assert_eq!(Generic::<u8>::plan().system_count(), 2);
    assert!(!std::ptr::eq(Generic::<u8>::plan(), Generic::<u16>::plan()));
    assert!(Nothing::topo_groups().is_empty());
}
