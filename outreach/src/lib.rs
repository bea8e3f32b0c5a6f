//! SMS and email outreach (built in the outreach issue).
