"""From a feed URL to normalised Items: fetch (hardened HTTP), parse (feedparser)."""
