import { describe, expect, it } from 'vitest';
import { parseAnnotations, videoFileCandidates } from './annotations.js';
import { AnnotationError } from './errors.js';

describe('parseAnnotations', () => {
  it('reads VideoQA JSONL: question id = 0-based line index (blank lines keep their index)', () => {
    const text = '{"video_id":"video7010","question":"what is he doing?","answer":"cook"}\n\n{"video_id":"video7011","question":"who?","answer":"man"}\n';
    expect(parseAnnotations(text, 'videoqa')).toEqual([
      { videoId: 'video7010', task: 'videoqa', item: { questionId: 0, question: 'what is he doing?', answer: 'cook' } },
      { videoId: 'video7011', task: 'videoqa', item: { questionId: 2, question: 'who?', answer: 'man' } },
    ]);
  });
  it('reads captioning lines {video_id, golden_caption: [...]} and a JSON array', () => {
    expect(parseAnnotations('[{"video_id":"v","golden_caption":["a b","c"]}]', 'caption')).toEqual([
      { videoId: 'v', task: 'caption', item: { line: 0, goldCaptions: ['a b', 'c'] } },
    ]);
  });
  it('names the file and line of a bad line', () => {
    const bad = () => parseAnnotations('{"video_id":"v","question":"q","answer":"a"}\n{"video_id":"v","question":"q"}\n', 'videoqa', 'qa.jsonl');
    expect(bad).toThrow(AnnotationError);
    expect(bad).toThrow("qa.jsonl:2: missing 'answer'");
    expect(() => parseAnnotations('{"video_id": 1, oops\n', 'videoqa', 'qa.jsonl')).toThrow(/qa.jsonl:1: not a JSON line/);
    expect(() => parseAnnotations('{"video_id":"v","golden_caption":[]}\n', 'caption', 'c.jsonl')).toThrow(/c.jsonl:1: missing 'golden_caption'/);
    expect(() => parseAnnotations('\n', 'caption', 'c.jsonl')).toThrow(/no annotation lines/);
  });
});

describe('videoFileCandidates', () => {
  it('tries <id>.mp4 then .avi; TGIF ids as .gif first; an id with an extension as is', () => {
    expect(videoFileCandidates('video7010')).toEqual(['video7010.mp4', 'video7010.avi']);
    expect(videoFileCandidates('tumblr_nk172bbdPI1u1lr18o1_250')).toEqual([
      'tumblr_nk172bbdPI1u1lr18o1_250.gif',
      'tumblr_nk172bbdPI1u1lr18o1_250.mp4',
      'tumblr_nk172bbdPI1u1lr18o1_250.avi',
    ]);
    expect(videoFileCandidates('clip.avi')).toEqual(['clip.avi', 'clip.avi.mp4', 'clip.avi.avi']);
  });
});
