"""Alliance feedback: partner links, the partner's answers, staff entry, scores over time."""
