"""部门筛查: department rows imported as a job, and the warnings the rules raise from them."""
