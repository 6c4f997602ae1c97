//! One file per entity: the read model on the view, the write model and the record model on
//! the table, and the table's declaration to softview.

mod note;
mod task;

pub use note::{NewNote, Note, NoteRecord};
pub use task::{NewTask, Task, TaskRecord};
