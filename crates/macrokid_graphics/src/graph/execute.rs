//! The execute step: [`GraphRecorder`], the interface a backend implements, the per-execution
//! [`PassCallbacks`], and the walk that drives them.

use std::fmt;

use super::builder::{PassError, PassId};
use super::compile::{BufferBarrier, CompiledGraph, CompiledPass, TextureBarrier};
use super::error::ExecuteError;

/// A pass's record callback: records the pass's commands through the backend's context `C`.
/// `Send` so that [`CompiledGraph::execute_parallel`] may call it on a worker thread; `'f` lets
/// it borrow per-frame data.
type PassFn<'f, C> = Box<dyn FnMut(&mut C) -> Result<(), PassError> + Send + 'f>;

/// The record callbacks of one execution of a [`CompiledGraph`]: for each pass, what it records
/// through the backend's context `C` (the [`GraphRecorder::Context`] or
/// [`PassRecorder::Context`]).
///
/// The compiled graph is an immutable plan shared by every frame; callbacks are given per
/// execution, so they may borrow the frame's data (`'f`, which also bounds the borrow of the
/// graph they were made for), and the graph is only borrowed shared while it runs. A pass without a callback still begins and ends (its attachments are loaded,
/// cleared and stored). The same callbacks may be reused for several executions.
///
/// Naming a pass never fails here: a [`PassId`] of another graph or an unknown name is reported
/// by the execution as [`ExecuteError::UnknownPass`], before anything is recorded.
pub struct PassCallbacks<'f, C> {
    graph: &'f CompiledGraph,
    callbacks: Vec<Option<PassFn<'f, C>>>,
    unknown: Option<String>,
}

impl<C> fmt::Debug for PassCallbacks<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set: Vec<&str> = self
            .graph
            .passes()
            .iter()
            .zip(&self.callbacks)
            .filter(|(_, c)| c.is_some())
            .map(|(p, _)| p.name())
            .collect();
        f.debug_struct("PassCallbacks")
            .field("graph", &self.graph.id())
            .field("set", &set)
            .field("unknown", &self.unknown)
            .finish()
    }
}

impl<'f, C> PassCallbacks<'f, C> {
    /// No callbacks yet, for the passes of `graph`.
    pub fn new(graph: &'f CompiledGraph) -> Self {
        Self {
            graph,
            callbacks: graph.passes().iter().map(|_| None).collect(),
            unknown: None,
        }
    }

    /// Sets the record callback of `pass` (replacing an earlier one), called by the executor
    /// between `begin_pass` and `end_pass` with the backend's context.
    pub fn set(
        &mut self,
        pass: PassId,
        callback: impl FnMut(&mut C) -> Result<(), PassError> + Send + 'f,
    ) -> &mut Self {
        match self.callbacks.get_mut(pass.index()) {
            Some(slot) if pass.graph == self.graph.id() => *slot = Some(Box::new(callback)),
            _ => {
                self.unknown.get_or_insert_with(|| format!("{pass:?}"));
            }
        }
        self
    }

    /// Sets the record callback of the pass named `name`, as [`set`](Self::set).
    pub fn set_by_name(
        &mut self,
        name: &str,
        callback: impl FnMut(&mut C) -> Result<(), PassError> + Send + 'f,
    ) -> &mut Self {
        match self.graph.passes().iter().position(|p| p.name() == name) {
            Some(index) => self.callbacks[index] = Some(Box::new(callback)),
            None => {
                self.unknown.get_or_insert_with(|| format!("pass `{name}`"));
            }
        }
        self
    }

    /// Checks that the callbacks fit `graph`.
    fn check<E>(&self, graph: &CompiledGraph) -> Result<(), ExecuteError<E>> {
        if self.graph.id() != graph.id() {
            return Err(ExecuteError::UnknownPass {
                pass: format!("the passes of render graph {}", self.graph.id()),
            });
        }
        match &self.unknown {
            Some(pass) => Err(ExecuteError::UnknownPass { pass: pass.clone() }),
            None => Ok(()),
        }
    }
}

/// The `Recorder` error of `pass` (`None`: the final transitions).
fn recorder_error<E>(pass: Option<&CompiledPass>) -> impl FnOnce(E) -> ExecuteError<E> + '_ {
    move |source| ExecuteError::Recorder {
        pass: pass.map(|p| p.name().to_owned()),
        source,
    }
}

/// What a backend implements to run a [`CompiledGraph`]: issue barriers, begin and end passes,
/// and hand each pass's record callback its command context.
///
/// [`CompiledGraph::execute`] calls, for each kept pass in [`order`](CompiledGraph::order):
/// `barrier` (only when the pass has barriers), `begin_pass`, the pass's record callback with the
/// context `begin_pass` returned (when it has one in the [`PassCallbacks`]), `end_pass`; then
/// `barrier` once more with the final transitions of the imports (when there are any). Barriers are issued by the executor
/// from the compiled graph, never by passes: a pass cannot skip or reorder them.
///
/// Handles in barriers and attachments are the graph's; the backend maps an imported handle to
/// the texture or buffer it bound to it, and a transient one to the memory of its
/// [`slot`](super::TransientTexture::slot).
pub trait GraphRecorder {
    /// The context a pass records its commands through (a command encoder).
    type Context;
    /// The backend's error.
    type Error;

    /// Issues one pipeline barrier holding all of `textures` and `buffers` (at least one of them
    /// non-empty), each sorted by handle.
    ///
    /// # Errors
    /// The backend's error; execution stops.
    fn barrier(
        &mut self,
        textures: &[TextureBarrier],
        buffers: &[BufferBarrier],
    ) -> Result<(), Self::Error>;

    /// Begins `pass`: for a pass with attachments
    /// ([`has_attachments`](CompiledPass::has_attachments)), begins rendering to its
    /// [`color_attachments`](CompiledPass::color_attachments) and
    /// [`depth_attachment`](CompiledPass::depth_attachment) over its
    /// [`extent`](CompiledPass::extent) with their load ops; returns the context the pass's
    /// callback records through.
    ///
    /// # Errors
    /// The backend's error; execution stops.
    fn begin_pass(&mut self, pass: &CompiledPass) -> Result<&mut Self::Context, Self::Error>;

    /// Ends `pass` (ends rendering with the attachments' store ops).
    ///
    /// # Errors
    /// The backend's error; execution stops.
    fn end_pass(&mut self, pass: &CompiledPass) -> Result<(), Self::Error>;
}

impl CompiledGraph {
    /// Walks the graph through `recorder` (see [`GraphRecorder`] for the calls and their order),
    /// calling the record callbacks of `callbacks`. Culled passes are skipped. The graph is
    /// unchanged and may be executed again (e.g. every frame, see [`CompiledGraph`]'s
    /// "Barriers" for what one execution waits for from the previous one).
    ///
    /// # Errors
    /// [`ExecuteError::UnknownPass`] when `callbacks` name a pass this graph does not have
    /// (nothing is recorded); [`ExecuteError::Recorder`] when the recorder fails,
    /// [`ExecuteError::Pass`] when a record callback fails; execution stops at the first error.
    pub fn execute<R>(
        &self,
        recorder: &mut R,
        callbacks: &mut PassCallbacks<'_, R::Context>,
    ) -> Result<(), ExecuteError<R::Error>>
    where
        R: GraphRecorder,
    {
        callbacks.check(self)?;
        for &id in &self.order {
            let pass = &self.passes[id.index()];
            if !pass.texture_barriers().is_empty() || !pass.buffer_barriers().is_empty() {
                recorder
                    .barrier(pass.texture_barriers(), pass.buffer_barriers())
                    .map_err(recorder_error(Some(pass)))?;
            }
            let context = recorder
                .begin_pass(pass)
                .map_err(recorder_error(Some(pass)))?;
            if let Some(callback) = callbacks.callbacks[id.index()].as_mut() {
                callback(context).map_err(|source| ExecuteError::Pass {
                    pass: pass.name().to_owned(),
                    source,
                })?;
            }
            recorder
                .end_pass(pass)
                .map_err(recorder_error(Some(pass)))?;
        }
        if !self.final_textures.is_empty() || !self.final_buffers.is_empty() {
            recorder
                .barrier(&self.final_textures, &self.final_buffers)
                .map_err(recorder_error(None))?;
        }
        Ok(())
    }
}

/// The worker-thread half of parallel recording: one command context per pass, recorded on any
/// thread, finished into something the submit thread can replay (a secondary command buffer).
///
/// Used with a [`GraphSubmitter`] by [`CompiledGraph::execute_parallel`]. Both methods may be
/// called from several threads at once, for different passes.
pub trait PassRecorder: Sync {
    /// The context a pass records through on a worker thread (a secondary command buffer being
    /// recorded, inheriting the pass's attachments).
    type Context: Send;
    /// A finished recording (a secondary command buffer).
    type Recorded: Send;
    /// The backend's error.
    type Error: Send;

    /// Starts recording `pass` on the calling thread.
    ///
    /// # Errors
    /// The backend's error; execution stops.
    fn begin_recording(&self, pass: &CompiledPass) -> Result<Self::Context, Self::Error>;

    /// Finishes the recording of `pass`.
    ///
    /// # Errors
    /// The backend's error; execution stops.
    fn finish_recording(
        &self,
        pass: &CompiledPass,
        context: Self::Context,
    ) -> Result<Self::Recorded, Self::Error>;
}

/// The submit-thread half of parallel recording: barriers, begin/end of each pass, and the
/// replay of the pass's recording between them (for Vulkan: `vkCmdExecuteCommands` inside a
/// rendering instance begun with `VK_RENDERING_CONTENTS_SECONDARY_COMMAND_BUFFERS_BIT`).
pub trait GraphSubmitter<Recorded> {
    /// The backend's error.
    type Error;

    /// As [`GraphRecorder::barrier`].
    ///
    /// # Errors
    /// The backend's error; execution stops.
    fn barrier(
        &mut self,
        textures: &[TextureBarrier],
        buffers: &[BufferBarrier],
    ) -> Result<(), Self::Error>;

    /// Begins `pass` (as [`GraphRecorder::begin_pass`], for replayed contents).
    ///
    /// # Errors
    /// The backend's error; execution stops.
    fn begin_pass(&mut self, pass: &CompiledPass) -> Result<(), Self::Error>;

    /// Replays the recording of `pass`.
    ///
    /// # Errors
    /// The backend's error; execution stops.
    fn execute_recorded(
        &mut self,
        pass: &CompiledPass,
        recorded: Recorded,
    ) -> Result<(), Self::Error>;

    /// Ends `pass`.
    ///
    /// # Errors
    /// The backend's error; execution stops.
    fn end_pass(&mut self, pass: &CompiledPass) -> Result<(), Self::Error>;
}

/// One pass's recording (or why it failed), as produced on a worker thread.
type Recording<T, E> = Result<T, ExecuteError<E>>;

impl CompiledGraph {
    /// Records every kept pass in parallel on the current rayon pool (each pass's callback into
    /// its own context from `recorder`), then, on the calling thread and in
    /// [`order`](Self::order), issues the same barriers as [`execute`](Self::execute) and replays
    /// each recording between `begin_pass` and `end_pass`, then the final transitions.
    ///
    /// The submitted stream depends on nothing but the graph: recording with 1 or N threads
    /// gives the same calls in the same order.
    ///
    /// # Errors
    /// [`ExecuteError::UnknownPass`] when `callbacks` name a pass this graph does not have
    /// (nothing is recorded); [`ExecuteError::Recorder`] when the recorder or submitter fails,
    /// [`ExecuteError::Pass`] when a record callback fails. When several passes fail to record,
    /// the first in [`order`](Self::order) is reported, and nothing is submitted.
    pub fn execute_parallel<R, S, E>(
        &self,
        recorder: &R,
        submitter: &mut S,
        callbacks: &mut PassCallbacks<'_, R::Context>,
    ) -> Result<(), ExecuteError<E>>
    where
        R: PassRecorder<Error = E>,
        S: GraphSubmitter<R::Recorded, Error = E>,
        E: Send,
    {
        use rayon::prelude::*;

        callbacks.check(self)?;
        // One slot per declared pass; culled passes have no position and are left alone.
        let passes = &self.passes;
        let mut recorded: Vec<(usize, Recording<R::Recorded, E>)> = callbacks
            .callbacks
            .par_iter_mut()
            .enumerate()
            .filter_map(|(index, callback)| {
                let pass = &passes[index];
                let position = pass.position()?;
                let result = (|| {
                    let mut context = recorder
                        .begin_recording(pass)
                        .map_err(recorder_error(Some(pass)))?;
                    if let Some(callback) = callback.as_mut() {
                        callback(&mut context).map_err(|source| ExecuteError::Pass {
                            pass: pass.name().to_owned(),
                            source,
                        })?;
                    }
                    recorder
                        .finish_recording(pass, context)
                        .map_err(recorder_error(Some(pass)))
                })();
                Some((position, result))
            })
            .collect();
        recorded.sort_by_key(|&(position, _)| position);
        let mut ready = Vec::with_capacity(recorded.len());
        for (_, result) in recorded {
            ready.push(result?);
        }

        for (&id, recording) in self.order.iter().zip(ready) {
            let pass = &self.passes[id.index()];
            if !pass.texture_barriers().is_empty() || !pass.buffer_barriers().is_empty() {
                submitter
                    .barrier(pass.texture_barriers(), pass.buffer_barriers())
                    .map_err(recorder_error(Some(pass)))?;
            }
            submitter
                .begin_pass(pass)
                .map_err(recorder_error(Some(pass)))?;
            submitter
                .execute_recorded(pass, recording)
                .map_err(recorder_error(Some(pass)))?;
            submitter
                .end_pass(pass)
                .map_err(recorder_error(Some(pass)))?;
        }
        if !self.final_textures.is_empty() || !self.final_buffers.is_empty() {
            submitter
                .barrier(&self.final_textures, &self.final_buffers)
                .map_err(recorder_error(None))?;
        }
        Ok(())
    }
}
