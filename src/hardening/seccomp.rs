//! Seccomp: default-deny baseline and OCI profile translation (stub, being written).
