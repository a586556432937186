//! Landlock filesystem and scope policy (stub, being written).
