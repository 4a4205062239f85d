//! macrokid_graphics (work in progress).
