module containerd-c/containerdc

go 1.19
