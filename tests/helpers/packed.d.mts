export declare const ROOT: string;
export declare function packPackages(names: readonly string[]): Record<string, string>;
export declare function installApp(
  prefix: string,
  packageJson: object,
  files?: Record<string, string>,
  options?: { timeout?: number; args?: readonly string[] },
): string;
