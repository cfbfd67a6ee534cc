//! `CommandQueue`: the commands a workflow task issued that still wait for their recorded
//! events, matched front to back.
//!
//! A `Vec` and a cursor rather than a `VecDeque`: matching reads each command where it lies
//! and moves the cursor on, and a replayed task's commands become the queue by trading
//! buffers with it (no copy, no growth, and none of the conversions between `Vec` and
//! `VecDeque` that cost more than the matching). Matched commands are dropped together once
//! the last one is matched.

use crate::command::Command;

#[derive(Debug, Default)]
pub(crate) struct CommandQueue {
    /// The task's commands; those before `next` are matched.
    commands: Vec<Command>,
    next: usize,
}

impl CommandQueue {
    /// The next command to match.
    pub fn front(&self) -> Option<&Command> {
        self.commands.get(self.next)
    }

    /// The front command found its event. Once all have, the buffer is emptied for the
    /// next task (its room kept).
    pub fn pop_front(&mut self) {
        self.next += 1;
        if self.next >= self.commands.len() {
            self.clear();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.next >= self.commands.len()
    }

    pub fn clear(&mut self) {
        self.commands.clear();
        self.next = 0;
    }

    /// Queues `commands`, leaving their buffer empty: when nothing waits, the buffers trade
    /// places, so `commands` gets the queue's empty room for the next task's commands.
    pub fn append(&mut self, commands: &mut Vec<Command>) {
        if self.is_empty() {
            self.clear();
            std::mem::swap(&mut self.commands, commands);
        } else {
            self.commands.append(commands);
        }
    }

    /// Queues copies of `commands` (for a live task whose commands also go out as its answer).
    pub fn extend_cloned(&mut self, commands: &[Command]) {
        self.commands.extend_from_slice(commands);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TimerId;
    use std::time::Duration;

    fn timer(n: u32) -> Command {
        Command::StartTimer {
            timer_id: TimerId::from_seq(n),
            duration: Duration::from_secs(1),
        }
    }

    #[test]
    fn commands_come_out_in_order_across_tasks_and_the_buffers_are_traded_not_copied() {
        let mut queue = CommandQueue::default();
        let mut issued = vec![timer(1), timer(2)];
        let room = issued.as_ptr();
        queue.append(&mut issued);
        assert!(issued.is_empty());
        assert_eq!(queue.front(), Some(&timer(1)));
        assert_eq!(queue.commands.as_ptr(), room, "taken over, not copied");
        // A second batch before the first is matched goes behind it.
        let mut more = vec![timer(3)];
        queue.append(&mut more);
        for n in 1..=3 {
            assert!(!queue.is_empty());
            assert_eq!(queue.front(), Some(&timer(n)));
            queue.pop_front();
        }
        assert!(queue.is_empty() && queue.front().is_none());
        queue.extend_cloned(&[timer(4)]);
        assert_eq!(queue.front(), Some(&timer(4)));
    }
}
