/**
 * The router's configuration: one table describing every option (its flag,
 * `PTTH_…` environment variable, config-file key, parser, default and help),
 * and {@linkcode loadConfig}, which merges them with the precedence
 * flag > environment > config file > default.
 *
 * @example Load a configuration and start a router from it
 * ```ts
 * import { loadConfig, toRouterOptions } from "jsr:@ptth/router/config";
 * import { createRouter } from "jsr:@ptth/router/router";
 * const config = loadConfig(
 *   ["--hostname", "127.0.0.1", "--port", "0", "--tunnel-port", "0", "--admin-port", "0"],
 *   () => undefined,
 *   (path) => Deno.readTextFileSync(path),
 * );
 * await using _router = createRouter({
 *   ...toRouterOptions(config, (path) => Deno.readTextFileSync(path)),
 *   quiet: true,
 * });
 * ```
 *
 * @module
 */

export {
  type AnyOptionSpec,
  ConfigError,
  type ConfigKey,
  type KeyNamer,
  loadConfig,
  OPTION_GROUPS,
  type OptionGroup,
  OPTIONS,
  type OptionSpec,
  type RouterConfig,
  toRouterOptions,
  type ValueType,
} from "./config/load.ts";
