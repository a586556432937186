use super::client::NetlinkClient;
use super::{NetworkError, Result};

pub enum ClientWrapper {
    Client(NetlinkClient),
    ErrorState,
}

impl ClientWrapper {
    pub(crate) fn client(&mut self) -> Result<&mut NetlinkClient> {
        match self {
            ClientWrapper::Client(client) => Ok(client),
            ClientWrapper::ErrorState => Err(NetworkError::ClientInitializeError),
        }
    }
}

impl Default for ClientWrapper {
    fn default() -> Self {
        match NetlinkClient::new() {
            Ok(client) => ClientWrapper::Client(client),
            Err(_) => ClientWrapper::ErrorState,
        }
    }
}

pub fn create_network_client() -> ClientWrapper {
    ClientWrapper::default()
}
