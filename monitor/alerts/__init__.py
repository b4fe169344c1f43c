"""From a match to a message on a channel: routing, rendering, delivery."""
