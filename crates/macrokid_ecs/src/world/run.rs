//! Running systems and schedules on a world: [`World::run_system`],
//! [`World::run_schedule`] and [`World::run_stage`].

use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, PoisonError};

use macrokid_core::SystemSlot;
use macrokid_threads::{RunSchedule, RunSystem, ScheduleError, Scheduler};

use super::World;
use crate::system::{Run, StageCx, SystemResult};

impl World {
    /// Runs one system now, with its commands applied right after it.
    ///
    /// # Errors
    /// Whatever the system returns (its commands are then dropped).
    pub fn run_system<S: Run>(&mut self, system: &mut S) -> SystemResult {
        let buffers = [Mutex::new(std::mem::take(&mut self.spare_buffer))];
        let stored = self
            .system_ticks
            .get(&std::any::TypeId::of::<S>())
            .map_or(0, |t| 1 << 32 | u64::from(t.get()));
        let last_runs = [AtomicU64::new(stored)];
        let base = self.change_tick();
        let result = {
            let cx = StageCx::new(self, &buffers, &last_runs, base);
            cx.run_system(system, SystemSlot(0))
        };
        self.system_ticks
            .insert(std::any::TypeId::of::<S>(), base.after(1));
        // Commands apply after the system's tick.
        self.advance_change_tick(2);
        let [buffer] = buffers;
        let mut buffer = buffer.into_inner().unwrap_or_else(PoisonError::into_inner);
        if result.is_ok() {
            self.apply_commands(&mut buffer);
        } else {
            buffer.clear();
        }
        self.spare_buffer = buffer;
        result
    }
}

impl World {
    /// Runs every stage of `schedule` once, in plan order, on `scheduler`;
    /// after each stage, applies the command buffers its systems filled, in
    /// system-slot order (stage declaration order, then system declaration
    /// order) and then recording order — so the resulting world never
    /// depends on thread timing or the thread count.
    ///
    /// Systems see the world through a [`StageCx`] (`S: Run` for every
    /// system of the schedule). When the scheduler has a pool, stages run
    /// inside it, so `par_for_each` in a system uses the scheduler's threads.
    ///
    /// A command that fails to apply (a stale entity, a missing component)
    /// is skipped, logged with `tracing::warn!` and counted in
    /// [`failed_command_count`](Self::failed_command_count); it does not fail
    /// the schedule.
    ///
    /// ```
    /// use macrokid_ecs::prelude::*;
    ///
    /// struct Position(f32);
    /// struct Velocity(f32);
    /// struct Time { dt: f32 }
    /// #[derive(Default)]
    /// struct Snapshot(Vec<f32>);
    ///
    /// #[derive(System, Default)]
    /// #[system(reads(Velocity, Time), writes(Position))]
    /// struct Integrate;
    /// impl Run for Integrate {
    ///     fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
    ///         let dt = cx.resource::<Time>()?.dt;
    ///         cx.query::<(&mut Position, &Velocity)>().par_for_each(|(mut p, v)| p.0 += v.0 * dt);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// #[derive(System, Default)]
    /// #[system(reads(Position), writes(Snapshot))]
    /// struct Extract;
    /// impl Run for Extract {
    ///     fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
    ///         let mut snapshot = cx.resource_mut::<Snapshot>()?;
    ///         snapshot.0.clear();
    ///         snapshot.0.extend(cx.query::<&Position>().iter().map(|p| p.0));
    ///         Ok(())
    ///     }
    /// }
    ///
    /// #[derive(Schedule, Default)]
    /// struct Game {
    ///     #[stage]
    ///     simulate: (Integrate,),
    ///     #[stage(after = "simulate")]
    ///     extract: (Extract,),
    /// }
    ///
    /// let mut world = World::new();
    /// world.insert_resource(Time { dt: 0.5 });
    /// world.insert_resource(Snapshot::default());
    /// world.spawn_batch((0..10_000).map(|i| (Position(i as f32), Velocity(2.0))));
    /// let scheduler = Scheduler::single_threaded(); // or Scheduler::global()
    /// let mut game = Game::default();
    /// world.run_schedule(&mut game, &scheduler)?;
    /// assert_eq!(world.resource::<Snapshot>()?.0[3], 4.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The first failing stage's [`ScheduleError`] (a system returned an
    /// error or panicked). Later stages do not run, and the commands
    /// recorded during the failing stage are dropped, not applied, so the
    /// world holds the state after the last complete stage plus the
    /// component writes the failing stage made in place.
    pub fn run_schedule<Sch>(
        &mut self,
        schedule: &mut Sch,
        scheduler: &Scheduler,
    ) -> Result<(), ScheduleError>
    where
        Sch: for<'w> RunSchedule<StageCx<'w>>,
    {
        for stage in 0..Sch::plan().stages().len() {
            self.run_stage(schedule, scheduler, stage)?;
        }
        Ok(())
    }

    /// Runs one stage of `schedule` — the one at `Sch::plan().stages()[stage]`
    /// (an index in execution order) — and then applies its systems'
    /// commands, exactly as one step of [`run_schedule`](Self::run_schedule)
    /// does (e.g. to time stages one by one).
    ///
    /// # Errors
    /// [`ScheduleError::StageIndexOutOfRange`] when `stage` is not a stage
    /// index of the plan (nothing runs); otherwise as
    /// [`run_schedule`](Self::run_schedule): on a failing stage its commands
    /// are dropped.
    pub fn run_stage<Sch>(
        &mut self,
        schedule: &mut Sch,
        scheduler: &Scheduler,
        stage: usize,
    ) -> Result<(), ScheduleError>
    where
        Sch: for<'w> RunSchedule<StageCx<'w>>,
    {
        let plan = Sch::plan();
        let slots = plan.system_count();
        let mut buffers = std::mem::take(&mut self.command_buffers);
        if buffers.len() < slots {
            buffers.resize_with(slots, Mutex::default);
        }
        if stage == 0 {
            self.age_removals();
        }
        let key = std::any::type_name::<Sch>();
        let last_runs = self
            .schedule_ticks
            .remove(key)
            .filter(|t| t.len() == slots)
            .unwrap_or_else(|| (0..slots).map(|_| AtomicU64::new(0)).collect());
        let base = self.change_tick();
        let outcome = {
            let cx = StageCx::new(self, &buffers, &last_runs, base);
            match scheduler.pool() {
                Some(pool) => pool.install(|| schedule.run_stage(scheduler, stage, &cx)),
                None => schedule.run_stage(scheduler, stage, &cx),
            }
        };
        self.schedule_ticks.insert(key, last_runs);
        // Commands apply after every system tick of the stage.
        self.advance_change_tick(1 + u32::try_from(slots).expect("fewer than 2^32 systems"));
        for buffer in &mut buffers {
            let buffer = buffer.get_mut().unwrap_or_else(PoisonError::into_inner);
            if outcome.is_err() {
                buffer.clear();
            } else if !buffer.is_empty() {
                self.apply_commands(buffer);
            }
        }
        self.command_buffers = buffers;
        outcome
    }
}
