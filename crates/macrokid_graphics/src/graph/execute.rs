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
