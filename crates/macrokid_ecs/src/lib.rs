//! macrokid_ecs (work in progress).
