//! Volunteers, events and attendances (built in the search issue).
