import Foundation
import Tensor

/// The history of generated images the CycleGAN discriminators train on (Shrivastava et al.), as the
/// reference `ImagePool`: the first `capacity` fakes are stored and returned as they are; after that each new fake
/// is, with probability ½, swapped for a random stored one (which is returned), else returned itself.
public final class ImagePool {
    public let capacity: Int
    /// Stored fakes, `[1, C, H, W]` each (detached copies).
    public private(set) var images: [Tensor] = []

    public init(capacity: Int = 50) {
        precondition(capacity >= 0, "pool capacity must not be negative")
        self.capacity = capacity
    }

    /// The images to show a discriminator for the fakes `batch` (`[N, C, H, W]`); same shape, detached.
    public func query(_ batch: Tensor, generator: RandomGenerator) -> Tensor {
        let fakes = batch.detached()
        guard capacity > 0 else { return fakes }
        var returned: [Tensor] = []
        for index in 0..<fakes.shape[0] {
            let image = fakes.sliced(axis: 0, index..<(index + 1)).copied()
            if images.count < capacity {
                images.append(image)
                returned.append(image)
            } else if generator.nextDouble() > 0.5 {
                let slot = generator.nextInt(below: capacity)
                returned.append(images[slot])
                images[slot] = image
            } else {
                returned.append(image)
            }
        }
        return returned.count == 1 ? returned[0] : Tensor.concatenated(returned, axis: 0)
    }

    /// The stored images as `prefix.0`, `prefix.1`, … (for a training state).
    public func buffers(prefix: String) -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: images.enumerated().map { ("\(prefix).\($0.offset)", $0.element) })
    }

    /// Restores the images saved by ``buffers(prefix:)``.
    public func restore(_ buffers: [String: Tensor], prefix: String) {
        images = buffers.compactMap { key, tensor -> (Int, Tensor)? in
            guard key.hasPrefix(prefix + "."), let index = Int(key.dropFirst(prefix.count + 1)) else { return nil }
            return (index, tensor)
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
