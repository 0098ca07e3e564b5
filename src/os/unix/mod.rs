//! Unix-specific mirrors of `std::os::unix`.

pub mod fs;
pub mod net;
