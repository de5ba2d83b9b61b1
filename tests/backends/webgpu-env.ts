import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * onnxruntime-node's WebGPU backend (Dawn over Vulkan) on a machine without a GPU: Debian's
 * Chromium ships SwiftShader's Vulkan ICD; pointing the Vulkan loader at it gives a software
 * adapter. Must run before the first webgpu session. Returns the ICD used, or null.
 */
export function useSwiftShaderVulkan(): string | null {
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = mkdtempSync(path.join(tmpdir(), 'mplug2-xdg-'));
  if (process.env.VK_ICD_FILENAMES) return process.env.VK_ICD_FILENAMES;
  const icd = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib/chromium-browser/vk_swiftshader_icd.json'].find((f) => existsSync(f));
  if (icd) process.env.VK_ICD_FILENAMES = icd;
  return icd ?? null;
}
