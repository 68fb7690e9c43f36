import Foundation
import ImageIO
import Models
import Tensor

/// Configurations small enough for a unit test to train in a second.
public enum TinyModels {
    /// A two-level KL autoencoder (f = 2), 8 channels, 2 latent channels.
    public static var autoencoder: AutoencoderConfiguration {
        var configuration = AutoencoderConfiguration()
        configuration.channels = 8
        configuration.multipliers = [1, 2]
        configuration.blocksPerLevel = 1
        configuration.latentChannels = 2
        return configuration
    }

    /// A two-level denoising UNet, 8 channels, attention at level 1.
    public static var unet: DenoisingUNetConfiguration {
        var configuration = DenoisingUNetConfiguration()
        configuration.channels = 8
        configuration.multipliers = [1, 2]
        configuration.blocksPerLevel = 1
        configuration.attentionLevels = [1]
        return configuration
    }
}

/// Smooth random colour fields (a seeded 3×3 grid, bilinearly upsampled), written as PNGs: images every test can
/// learn from and that no test depends on for their exact content.
public enum SmoothImages {
    /// Writes `folder/<prefix><index>.png` for `0..<count` (the folder is created), `width × height`, from `seed`.
    public static func write(count: Int, to folder: URL, width: Int, height: Int, seed: UInt64, prefix: String = "") throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let random = RandomGenerator(seed: seed)
        for index in 0..<count {
            let coarse = Tensor.randomUniform([1, 3, 3, 3], low: -1, high: 1, generator: random)
            try Image(tensor: coarse.upsampled(height: height, width: width, mode: .bilinear))
                .write(to: folder.appendingPathComponent("\(prefix)\(index).png"))
        }
    }
}
