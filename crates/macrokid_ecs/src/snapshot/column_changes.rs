//! Change queries over whole column ranges, for shipping only the columns
//! that changed (distributed mode's column reuse in `macrokid_net`).
//!
//! A sender that remembers the [`Tick`] at which a receiver's copy of some
//! rows of a column was current asks [`World::column_changed_since`] whether
//! any of those rows was stamped changed after it, instead of reading and
//! comparing the column's bytes. The row ticks are the ones every write
//! through the world stamps (queries with `&mut`, `get_mut`, inserts,
//! [`World::write_pod_column`]); a write through
//! [`Mut::bypass_change_detection`](crate::Mut::bypass_change_detection) is
//! not seen. Rows moved by a structural change (a despawn's swap-remove)
//! keep their ticks: compare the table's entities too.
//!
//! [`World::column_ticks`] and [`World::mark_column_changed`] read and set
//! the row ticks themselves, so that a remote run of a system sees as added or
//! changed the rows a local run would (distributed mode's change flags);
//! [`World::column_change_flags`] turns them into one flag byte per row in
//! one branch-free pass (what the coordinator and the process ship).

use std::ops::Range;

use super::columns::ColumnAccessError;
use crate::change::{ComponentTicks, Tick};
use crate::World;

impl World {
    /// Whether any row in `rows` of the column registered as `name` in table
    /// `table` was stamped changed after `since`, seen from the current
    /// [`change_tick`](Self::change_tick) (wrap-around safe while `since` is
    /// at most [`MAX_CHANGE_AGE`](crate::change::MAX_CHANGE_AGE) old; older
    /// ticks count as changed). Reads the rows' changed ticks only, not the
    /// column's values. An empty range is unchanged.
    ///
    /// # Errors
    /// [`ColumnAccessError::NoTable`], [`ColumnAccessError::NoColumn`] (the
    /// table lacks it, or it is not registered), and
    /// [`ColumnAccessError::Misfit`] when `rows` runs past the table's last
    /// row.
    pub fn column_changed_since(
        &self,
        table: usize,
        name: &str,
        rows: Range<usize>,
        since: Tick,
    ) -> Result<bool, ColumnAccessError> {
        let (t, index) = self.column_range(table, name, &rows)?;
        let now = self.change_tick();
        if now.get().wrapping_sub(since.get()) >= crate::change::MAX_CHANGE_AGE {
            return Ok(true);
        }
        Ok(self.parts().archetypes[t].any_changed_after(index, rows, since, now))
    }

    /// Appends the added and changed ticks of rows `rows` of the column
    /// registered as `name` in table `table` to `out`, row by row (for
    /// shipping to a remote system run which rows it must see as added or
    /// changed).
    ///
    /// # Errors
    /// As [`column_changed_since`](Self::column_changed_since); `out` is
    /// unchanged then.
    pub fn column_ticks(
        &self,
        table: usize,
        name: &str,
        rows: Range<usize>,
        out: &mut Vec<ComponentTicks>,
    ) -> Result<(), ColumnAccessError> {
        let (t, index) = self.column_range(table, name, &rows)?;
        let ticks = self.parts().archetypes[t].tick_column(index);
        out.extend(rows.map(|row| ticks.get(row)));
        Ok(())
    }

    /// Appends one byte per row of rows `rows` of the column registered as
    /// `name` in table `table` to `out`: with `bits` = `(added, changed)`,
    /// `added` when the row was added after `since`, or-ed with `changed`
    /// when it was changed after `since` (seen from the world's change tick;
    /// 0 when neither) — the per-row change flags a remote system run needs,
    /// in one branch-free pass over the ticks without copying them
    /// ([`column_ticks`](Self::column_ticks) does).
    ///
    /// # Errors
    /// As [`column_changed_since`](Self::column_changed_since); `out` is
    /// unchanged then.
    pub fn column_change_flags(
        &self,
        table: usize,
        name: &str,
        rows: Range<usize>,
        since: Tick,
        bits: (u8, u8),
        out: &mut Vec<u8>,
    ) -> Result<(), ColumnAccessError> {
        let (t, index) = self.column_range(table, name, &rows)?;
        let now = self.change_tick();
        self.parts().archetypes[t]
            .tick_column(index)
            .change_flags(rows, since, now, bits, out);
        Ok(())
    }

    /// Stamps rows `rows` of the column registered as `name` in table
    /// `table` changed at `tick` — and added at `tick` too when `added` —
    /// without touching the values: a remote system run marks the rows its
    /// coordinator saw added or changed since the system's previous run (the
    /// column-wise [`set_component_ticks`](Self::set_component_ticks)).
    ///
    /// # Errors
    /// As [`column_changed_since`](Self::column_changed_since); nothing is
    /// stamped then.
    pub fn mark_column_changed(
        &mut self,
        table: usize,
        name: &str,
        rows: Range<usize>,
        tick: Tick,
        added: bool,
    ) -> Result<(), ColumnAccessError> {
        let (t, index) = self.column_range(table, name, &rows)?;
        let (tables, ..) = self.columns_mut();
        if added {
            tables[t].mark_added(index, rows.clone(), tick);
        }
        tables[t].mark_changed(index, rows, tick);
        Ok(())
    }

    /// The table and column index of `name` in `table`, after checking that
    /// `rows` lies in the table.
    fn column_range(
        &self,
        table: usize,
        name: &str,
        rows: &Range<usize>,
    ) -> Result<(usize, usize), ColumnAccessError> {
        let tables = self.parts().archetypes;
        let t = tables.get(table).ok_or(ColumnAccessError::NoTable {
            table,
            tables: tables.len(),
        })?;
        let (index, codec) = super::columns::find_column(self.snapshot_registry(), t, table, name)?;
        if rows.start > rows.end || rows.end > t.len() {
            return Err(ColumnAccessError::Misfit {
                name: name.to_owned(),
                table,
                rows: t.len(),
                first: rows.start,
                len: rows.len(),
                size: codec.pod_size.unwrap_or(0),
            });
        }
        Ok((table, index))
    }

    /// Moves the [`change_tick`](Self::change_tick) one tick on, without
    /// clearing the trackers (unlike [`clear_trackers`](Self::clear_trackers)):
    /// later direct writes are stamped after every write so far, so that
    /// [`column_changed_since`](Self::column_changed_since) with the tick
    /// returned by an earlier call tells them apart. Returns the new tick.
    pub fn step_change_tick(&mut self) -> Tick {
        self.advance_change_tick(1);
        self.change_tick()
    }
}

#[cfg(test)]
mod tests {
    use crate::World;

    #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C)]
    struct P(f32);

    #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C)]
    struct Q(u32);

    fn world() -> (World, usize) {
        let mut world = World::new();
        world
            .snapshot_registry_mut()
            .register_pod_as::<P>("P")
            .register_pod_as::<Q>("Q");
        for i in 0..10 {
            world.spawn((P(i as f32), Q(i)));
        }
        let table = world
            .table_shapes()
            .iter()
            .find(|s| s.rows == 10)
            .expect("the table")
            .table;
        (world, table)
    }

    #[test]
    fn writes_after_the_tick_are_seen_by_row_and_column() {
        let (mut world, t) = world();
        let p = "P";
        let q = "Q";
        let since = world.change_tick();
        assert!(world.step_change_tick() != since);
        assert!(!world.column_changed_since(t, p, 0..10, since).unwrap());
        world
            .write_pod_column(t, p, 7, &2.5f32.to_le_bytes())
            .unwrap();
        assert!(world.column_changed_since(t, p, 0..10, since).unwrap());
        assert!(world.column_changed_since(t, p, 7..8, since).unwrap());
        assert!(!world.column_changed_since(t, p, 0..7, since).unwrap());
        assert!(!world.column_changed_since(t, p, 8..10, since).unwrap());
        assert!(!world.column_changed_since(t, q, 0..10, since).unwrap());
        // A write at the remembered tick itself is not after it.
        let (mut world, t) = self::world();
        let since = world.change_tick();
        world
            .write_pod_column(t, p, 0, &1.0f32.to_le_bytes())
            .unwrap();
        assert!(!world.column_changed_since(t, p, 0..10, since).unwrap());
        world.step_change_tick();
        world
            .write_pod_column(t, p, 0, &1.0f32.to_le_bytes())
            .unwrap();
        assert!(world.column_changed_since(t, p, 0..1, since).unwrap());
    }

    #[test]
    fn get_mut_and_queries_stamp_what_it_reads() {
        let (mut world, t) = world();
        let p = "P";
        let since = world.change_tick();
        assert!(world.step_change_tick() != since);
        let e = world.table_entities(t).unwrap()[3];
        world.get_mut::<P>(e).unwrap().0 = 9.0;
        assert!(world.column_changed_since(t, p, 3..4, since).unwrap());
        assert!(!world.column_changed_since(t, p, 4..10, since).unwrap());
    }

    #[test]
    fn bad_ranges_tables_and_names_are_errors() {
        let (world, t) = world();
        let p = "P";
        let now = world.change_tick();
        assert!(world.column_changed_since(t, p, 0..11, now).is_err());
        assert!(world.column_changed_since(t + 100, p, 0..1, now).is_err());
        assert!(world.column_changed_since(t, "nope", 0..1, now).is_err());
        assert!(!world.column_changed_since(t, p, 5..5, now).unwrap());
    }
}
