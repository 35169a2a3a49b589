pub mod copy;
pub mod fifo;
