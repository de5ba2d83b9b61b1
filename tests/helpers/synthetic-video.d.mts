export declare function writeSyntheticVideo(file: string, source: string, seconds?: number | null): string;
