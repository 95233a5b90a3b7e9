#!/usr/bin/python3
# Developer script (not run by the tests): prints the conv + linear weight counts (no biases, no
# BatchNorm) of torchvision's ResNets, the reference numbers hard-coded in tests/unit/test_arch.cpp.
# Needs python3-torchvision (Debian); run as /usr/bin/python3 scripts/count-torchvision-params.py
import torch
import torchvision.models as models


def weight_count(model):
    """Sum of numel over the weights of every Conv2d and Linear module."""
    kinds = (torch.nn.Conv2d, torch.nn.Linear)
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, kinds))


def cifar_resnet(build, classes):
    """torchvision ResNet with the CIFAR stem: 3x3 stride-1 conv1, no max-pool."""
    model = build(num_classes=classes)
    model.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = torch.nn.Identity()
    return model


def main():
    for name, build in (("resnet18", models.resnet18), ("resnet34", models.resnet34)):
        print(f"{name} 3x32x32 classes=10: {weight_count(cifar_resnet(build, 10))}")
    imagenet = (("resnet50", models.resnet50), ("resnet101", models.resnet101),
                ("wide-resnet50", models.wide_resnet50_2),
                ("wide-resnet101", models.wide_resnet101_2))
    for name, build in imagenet:
        for classes in (1000, 10):
            print(f"{name} classes={classes}: {weight_count(build(num_classes=classes))}")


if __name__ == "__main__":
    main()
