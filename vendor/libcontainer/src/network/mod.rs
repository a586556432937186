pub mod address;
pub mod cidr;
mod client;
pub mod link;
pub mod network_device;
pub mod wrapper;

#[cfg(test)]
mod tests;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(transparent)]
    Nix(#[from] nix::Error),
    #[error(transparent)]
    IO(#[from] std::io::Error),
    #[error("failed to initialize NetlinkClient")]
    ClientInitializeError,
}

type Result<T> = std::result::Result<T, NetworkError>;
