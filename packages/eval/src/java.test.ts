import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '@mplug2/core';
import { JavaScorerError, meteorScore, scoreCaptionsWithJava, spiceScore } from './java.js';

// Stand-ins for meteor-1.5.jar and spice-1.0.jar (not available offline): real jars that check the
// command line pycocoevalcap uses and speak the same protocol, with scores from a known formula
// (METEOR: hypothesis words / 10 per video, corpus = their sum / 100; SPICE: (index + 1) / 10).
const METEOR = `
import java.io.*; import java.util.*;
public class Meteor { public static void main(String[] a) throws Exception {
  if (!String.join(" ", a).equals("- - -stdio -l en -norm")) { System.err.println("bad args " + String.join(" ", a)); System.exit(3); }
  BufferedReader r = new BufferedReader(new InputStreamReader(System.in, "UTF-8")); String l;
  while ((l = r.readLine()) != null) {
    String[] p = l.split(" \\\\|\\\\|\\\\| ", -1);
    if (p[0].equals("SCORE")) { System.out.println((p.length - 2) + " " + p[p.length - 1].trim().split(" +").length); System.out.flush(); }
    else if (p[0].equals("EVAL")) { double s = 0; for (int i = 1; i < p.length; i++) { double v = Integer.parseInt(p[i].trim().split(" ")[1]) / 10.0; s += v; System.out.println(v); } System.out.println(s / 100); System.out.flush(); }
    else System.exit(4);
  } } }`;
const SPICE = `
import java.io.*; import java.nio.file.*;
public class Spice { public static void main(String[] a) throws Exception {
  if (a.length != 7 || !a[1].equals("-cache") || !a[3].equals("-out") || !a[5].equals("-subset") || !a[6].equals("-silent")) System.exit(3);
  String in = new String(Files.readAllBytes(Paths.get(a[0])), "UTF-8"); int n = in.split("\\"image_id\\"", -1).length - 1;
  StringBuilder b = new StringBuilder("["); for (int i = 0; i < n; i++) b.append(i > 0 ? "," : "").append("{\\"image_id\\":" + i + ",\\"scores\\":{\\"All\\":{\\"f\\":" + ((i + 1) / 10.0) + "}}}");
  Files.write(Paths.get(a[4]), (b + "]").getBytes("UTF-8")); } }`;

let meteorJar: string;
let spiceJar: string;

beforeAll(() => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-eval-java-'));
  for (const [name, src] of [
    ['Meteor', METEOR],
    ['Spice', SPICE],
  ]) {
    writeFileSync(path.join(dir, `${name}.java`), src);
    execFileSync('javac', ['-d', dir, path.join(dir, `${name}.java`)]);
    execFileSync('jar', ['cfe', path.join(dir, `${name.toLowerCase()}.jar`), name, '-C', dir, `${name}.class`]);
  }
  meteorJar = path.join(dir, 'meteor.jar');
  spiceJar = path.join(dir, 'spice.jar');
}, 120_000);

const results = [
  { video_id: 'a', pred_caption: 'A man is cooking.', gold_caption: ['a man cooks food', 'someone is cooking'] },
  { video_id: 'b', pred_caption: 'a dog runs', gold_caption: ['a dog is running'] },
];

describe('METEOR / SPICE jars', () => {
  it('runs METEOR as pycocoevalcap (java -jar -Xmx2G jar - - -stdio -l en -norm; SCORE then EVAL lines) on PTB-tokenized captions', async () => {
    const m = await meteorScore(['a man is cooking', 'a dog runs'], [['a man cooks food', 'someone is cooking'], ['a dog is running']], meteorJar);
    expect(m.perSentence).toEqual([0.4, 0.3]);
    expect(m.corpus).toBeCloseTo(0.007, 12);
  });
  it('runs SPICE as pycocoevalcap (json in, -cache, -out, -subset -silent) and averages All.f', async () => {
    const s = await spiceScore(['x', 'y', 'z'], [['x'], ['y'], ['z']], spiceJar);
    expect(s.perSentence).toEqual([0.1, 0.2, 0.3]);
    expect(s.corpus).toBeCloseTo(0.2, 12);
  });
  it('scoreCaptionsWithJava fills METEOR and SPICE when their jars are given, null with a reason otherwise', async () => {
    const both = await scoreCaptionsWithJava(results, { meteorJar, spiceJar });
    expect(both.METEOR).toBeCloseTo(0.007, 12);
    expect(both.SPICE).toBeCloseTo(0.15, 12);
    expect(both.unavailable).toBeUndefined();
    const none = await scoreCaptionsWithJava(results);
    expect(none.METEOR).toBeNull();
    expect(none.SPICE).toBeNull();
    expect(none.unavailable?.SPICE).toMatch(/spice-1.0.jar/);
    const meteorOnly = await scoreCaptionsWithJava(results, { meteorJar });
    expect(meteorOnly.SPICE).toBeNull();
    expect(Object.keys(meteorOnly.unavailable ?? {})).toEqual(['SPICE']);
  });
  it('a missing jar is an InvalidOptionError naming the option; a missing java a JavaScorerError', async () => {
    await expect(meteorScore(['a'], [['a']], '/nonexistent/meteor-1.5.jar')).rejects.toThrow(InvalidOptionError);
    await expect(meteorScore(['a'], [['a']], '/nonexistent/meteor-1.5.jar')).rejects.toThrow(/--meteor-jar/);
    await expect(meteorScore(['a'], [['a']], meteorJar, '/nonexistent/java')).rejects.toThrow(JavaScorerError);
  });
});
