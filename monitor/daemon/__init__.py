"""The long-running process: scheduler, feed health, config watcher."""
