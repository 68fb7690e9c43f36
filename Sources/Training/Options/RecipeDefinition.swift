import ArgumentParser
import Datasets
import Foundation

/// A recipe and its dataset, ready for a ``Trainer``, with a one-line summary for the log.
public struct PreparedRecipe {
    public var recipe: any TrainingRecipe
    public var dataset: any Dataset
    public var summary: String

    public init(recipe: any TrainingRecipe, dataset: any Dataset, summary: String) {
        self.recipe = recipe
        self.dataset = dataset
        self.summary = summary
    }
}

/// What `stylize train NAME` needs of a recipe: its name and help, its own options, its defaults, which options define
/// its networks, and how to build it with its dataset.
///
/// A recipe is one file (the ``TrainingRecipe`` class, its ``Arguments`` and this conformance) plus one line in the
/// command line's list of recipes, as junyanz's `models/template_model.py`; `CONTRIBUTING.md` walks through one.
/// The shared options (``RunArguments``: name, schedule, bounds; ``ImageDataArguments``: data and preprocessing) come
/// with every recipe; ``Arguments`` holds only what this recipe adds, so `--help` shows only what applies.
public protocol RecipeDefinition {
    /// The recipe's own options (an option group; `ParsableArguments` with `@Option`/`@Flag`/`@OptionGroup`).
    associatedtype Arguments: ParsableArguments

    /// The name after `stylize train`.
    static var commandName: String { get }
    /// One line for `stylize train --help`.
    static var abstract: String { get }
    /// The recipe's help: data layout, what it writes, defaults.
    static var discussion: String { get }

    /// The defaults of the shared options (learning rate, epochs, batch, preprocessing) for these arguments.
    static func defaults(_ arguments: Arguments) -> RecipeDefaults

    /// The options that define the networks, as these arguments resolve them (`("--net-g", "resnet_9blocks")`): a
    /// run cannot continue with any of them changed.
    static func networkDefinition(_ arguments: Arguments) throws -> [(option: String, value: String)]

    /// Builds the recipe and its dataset. Options that do not fit together are a `ValidationError` (nothing is
    /// written); data problems are the datasets' typed errors.
    static func prepare(_ arguments: Arguments, data: ImageDataArguments, training: TrainingOptions) throws -> PreparedRecipe

    /// Whether these arguments need `--dataroot` (default: yes).
    static func needsDataroot(_ arguments: Arguments) -> Bool
}

extension RecipeDefinition {
    public static func needsDataroot(_ arguments: Arguments) -> Bool { true }
}
