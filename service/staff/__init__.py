"""Staff: admins, supervisors and therapists of a clinic, with therapist public profiles."""
