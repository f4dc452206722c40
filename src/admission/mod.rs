//! Admission decisions: where each kind keeps its images, policy modes, and the patch.
