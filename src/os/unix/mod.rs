//! Unix-specific mirrors of `std::os::unix`.

pub mod net;
