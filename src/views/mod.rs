//! Views made for people: renderings listed beside the data they show. Pure logic, no FUSE,
//! no database.

pub mod definition;
pub mod diagram;
pub mod png;
