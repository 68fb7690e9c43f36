"""The reference generators of junyanz/pytorch-CycleGAN-and-pix2pix (layer order and state_dict keys),
written out for the tools/ scripts that need them in PyTorch: fixtures and benchmarks. Never used by
the product or its tests."""
import torch
import torch.nn as nn


class ResnetBlock(nn.Module):
    def __init__(self, dim, dropout):
        super().__init__()
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


def resnet(ngf, blocks, dropout=False):
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
    for i in range(2):
        c = ngf * 2 ** i
        layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.InstanceNorm2d(2 * c), nn.ReLU(True)]
    layers += [ResnetBlock(ngf * 4, dropout) for _ in range(blocks)]
    for i in range(2):
        c = ngf * 4 // 2 ** i
        layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1), nn.InstanceNorm2d(c // 2),
                   nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    net = nn.Module()
    net.model = nn.Sequential(*layers)
    net.forward = lambda x: net.model(x)
    return net


class UnetBlock(nn.Module):
    def __init__(self, outer, inner, input_nc=None, sub=None, outermost=False, innermost=False, dropout=False):
        super().__init__()
        self.outermost = outermost
        input_nc = outer if input_nc is None else input_nc
        down = nn.Conv2d(input_nc, inner, 4, 2, 1, bias=False)
        if outermost:
            model = [down, sub, nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
        elif innermost:
            model = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False),
                     nn.BatchNorm2d(outer)]
        else:
            model = [nn.LeakyReLU(0.2, True), down, nn.BatchNorm2d(inner), sub, nn.ReLU(True),
                     nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer)]
            if dropout:
                model.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*model)

    def forward(self, x):
        # The in-place LeakyReLU at the head of self.model rewrites x before cat reads it (reference behaviour).
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


def unet(ngf, downs, dropout=True):
    block = UnetBlock(ngf * 8, ngf * 8, innermost=True)
    for _ in range(downs - 5):
        block = UnetBlock(ngf * 8, ngf * 8, sub=block, dropout=dropout)
    for outer, inner in ((ngf * 4, ngf * 8), (ngf * 2, ngf * 4), (ngf, ngf * 2)):
        block = UnetBlock(outer, inner, sub=block)
    net = nn.Module()
    net.model = UnetBlock(3, ngf, input_nc=3, sub=block, outermost=True)
    net.forward = lambda x: net.model(x)
    return net


def stylize_output(net, x, multiple):
    """What `stylize` writes for x ([1, 3, H, W] in [-1, 1]): pad to `multiple` (reflect, or replicate where the pad
    is not smaller than the side; the odd pixel after), run, crop back, round (y + 1) / 2 * 255 to 8 bits (H, W, 3)."""
    import torch.nn.functional as F
    h, w = x.shape[2:]
    pad_w, pad_h = (multiple - w % multiple) % multiple, (multiple - h % multiple) % multiple
    left, top = pad_w // 2, pad_h // 2
    reflect = (pad_w - left) < w and (pad_h - top) < h and left < w and top < h
    padded = F.pad(x, (left, pad_w - left, top, pad_h - top), mode="reflect" if reflect else "replicate")
    with torch.no_grad():
        y = net.forward(padded)[:, :, top:top + h, left:left + w]
    return ((y[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
