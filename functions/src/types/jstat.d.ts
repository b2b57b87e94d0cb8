/** The part of jStat (a CommonJS module without type definitions) that the calibration bound uses. */
declare module 'jstat' {
  const jstat: {
    jStat: {
      gamma: { inv(p: number, shape: number, scale: number): number };
      beta: { inv(p: number, a: number, b: number): number };
      normal: { inv(p: number, mean: number, sd: number): number };
    };
  };
  export default jstat;
}
