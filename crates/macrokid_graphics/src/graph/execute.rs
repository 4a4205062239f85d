//! The execute step: [`GraphRecorder`], the interface a backend implements, and the walk that
//! drives it.

use super::compile::{BufferBarrier, CompiledGraph, CompiledPass, TextureBarrier};
use super::error::ExecuteError;

/// What a backend implements to run a [`CompiledGraph`]: issue barriers, begin and end passes,
/// and hand each pass's record callback its command context.
///
/// [`CompiledGraph::execute`] calls, for each kept pass in [`order`](CompiledGraph::order):
/// `barrier` (only when the pass has barriers), `begin_pass`, the pass's record callback with the
/// context `begin_pass` returned (when it has one), `end_pass`; then `barrier` once more with the
/// final transitions of the imports (when there are any). Barriers are issued by the executor
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

impl<C> CompiledGraph<C> {
    /// Walks the graph through `recorder` (see [`GraphRecorder`] for the calls and their order).
    /// Culled passes are skipped. The graph is unchanged and may be executed again (e.g. every
    /// frame).
    ///
    /// # Errors
    /// [`ExecuteError::Recorder`] when the recorder fails, [`ExecuteError::Pass`] when a record
    /// callback fails; execution stops at the first error.
    pub fn execute<R>(&mut self, recorder: &mut R) -> Result<(), ExecuteError<R::Error>>
    where
        R: GraphRecorder<Context = C>,
    {
        for &id in &self.order {
            let pass = &self.passes[id.index()];
            if !pass.texture_barriers().is_empty() || !pass.buffer_barriers().is_empty() {
                recorder
                    .barrier(pass.texture_barriers(), pass.buffer_barriers())
                    .map_err(ExecuteError::Recorder)?;
            }
            let context = recorder.begin_pass(pass).map_err(ExecuteError::Recorder)?;
            if let Some(callback) = self.callbacks[id.index()].as_mut() {
                callback(context).map_err(|source| ExecuteError::Pass {
                    pass: pass.name().to_owned(),
                    source,
                })?;
            }
            recorder.end_pass(pass).map_err(ExecuteError::Recorder)?;
        }
        if !self.final_textures.is_empty() || !self.final_buffers.is_empty() {
            recorder
                .barrier(&self.final_textures, &self.final_buffers)
                .map_err(ExecuteError::Recorder)?;
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

impl<C: Send> CompiledGraph<C> {
    /// Records every kept pass in parallel on the current rayon pool (each pass's callback into
    /// its own context from `recorder`), then, on the calling thread and in
    /// [`order`](Self::order), issues the same barriers as [`execute`](Self::execute) and replays
    /// each recording between `begin_pass` and `end_pass`, then the final transitions.
    ///
    /// The submitted stream depends on nothing but the graph: recording with 1 or N threads
    /// gives the same calls in the same order.
    ///
    /// # Errors
    /// [`ExecuteError::Recorder`] when the recorder or submitter fails, [`ExecuteError::Pass`]
    /// when a record callback fails. When several passes fail to record, the first in
    /// [`order`](Self::order) is reported, and nothing is submitted.
    pub fn execute_parallel<R, S, E>(
        &mut self,
        recorder: &R,
        submitter: &mut S,
    ) -> Result<(), ExecuteError<E>>
    where
        R: PassRecorder<Context = C, Error = E>,
        S: GraphSubmitter<R::Recorded, Error = E>,
        E: Send,
    {
        use rayon::prelude::*;

        // One slot per declared pass; culled passes have no position and are left alone.
        let passes = &self.passes;
        let mut recorded: Vec<(usize, Recording<R::Recorded, E>)> = self
            .callbacks
            .par_iter_mut()
            .enumerate()
            .filter_map(|(index, callback)| {
                let pass = &passes[index];
                let position = pass.position()?;
                let result = (|| {
                    let mut context = recorder
                        .begin_recording(pass)
                        .map_err(ExecuteError::Recorder)?;
                    if let Some(callback) = callback.as_mut() {
                        callback(&mut context).map_err(|source| ExecuteError::Pass {
                            pass: pass.name().to_owned(),
                            source,
                        })?;
                    }
                    recorder
                        .finish_recording(pass, context)
                        .map_err(ExecuteError::Recorder)
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
                    .map_err(ExecuteError::Recorder)?;
            }
            submitter.begin_pass(pass).map_err(ExecuteError::Recorder)?;
            submitter
                .execute_recorded(pass, recording)
                .map_err(ExecuteError::Recorder)?;
            submitter.end_pass(pass).map_err(ExecuteError::Recorder)?;
        }
        if !self.final_textures.is_empty() || !self.final_buffers.is_empty() {
            submitter
                .barrier(&self.final_textures, &self.final_buffers)
                .map_err(ExecuteError::Recorder)?;
        }
        Ok(())
    }
}
