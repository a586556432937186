//! The hardening layer: each submodule owns one defence.

pub mod landlock;
pub mod seccomp;
