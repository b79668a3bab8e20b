"""accent: tell a speaker's accent from raw audio, and show honestly when transfer learning helps."""

__version__ = "0.1.0"
