//! The hardening layer: each submodule owns one defence.

pub mod capabilities;
pub mod landlock;
pub mod rootfs;
pub mod seccomp;
