module kfed.dev/testbed/launcher

go 1.26.0
